from qualia.plugin_sdk import serve

from . import KwicView

serve(KwicView)
