from qualia.plugin_sdk import serve

from . import Collocations

serve(Collocations)
