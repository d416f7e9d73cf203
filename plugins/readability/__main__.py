from qualia.plugin_sdk import serve

from . import Readability

serve(Readability)
