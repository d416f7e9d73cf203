from qualia.plugin_sdk import serve

from . import WordcloudViz

serve(WordcloudViz)
