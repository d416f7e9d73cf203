from qualia.plugin_sdk import serve

from . import KeynessChart

serve(KeynessChart)
