from qualia.plugin_sdk import serve

from . import SentimentViz

serve(SentimentViz)
