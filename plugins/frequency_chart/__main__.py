from qualia.plugin_sdk import serve

from . import FrequencyChart

serve(FrequencyChart)
