from qualia.plugin_sdk import serve

from . import SentimentAnalyzer

serve(SentimentAnalyzer)
