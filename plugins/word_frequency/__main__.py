from qualia.plugin_sdk import serve

from . import WordFrequency

serve(WordFrequency)
