from qualia.plugin_sdk import serve

from . import Keyness

serve(Keyness)
