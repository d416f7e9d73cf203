from qualia.plugin_sdk import serve

from . import Concordance

serve(Concordance)
