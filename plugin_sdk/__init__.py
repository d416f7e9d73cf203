"""What a plugin author imports: the Document, base classes, errors and `serve`."""
from .document import Document, Segment
from .errors import Cancelled, InputError, InternalError, InvalidParams, InvalidRequest, MethodNotFound, ParseError, RpcError
from .manifest import ConfigError, Manifest, ManifestError, Parameter, load_manifest, validate_config
from .plugin import AnalyzerPlugin, DocumentPlugin, Figure, Plugin, VisualizerPlugin
from .protocol import PROTOCOL
from .serve import serve

__all__ = [
    "AnalyzerPlugin", "Cancelled", "ConfigError", "Document", "DocumentPlugin", "Figure", "InputError", "InternalError",
    "InvalidParams", "InvalidRequest", "Manifest", "ManifestError", "MethodNotFound", "PROTOCOL", "Parameter",
    "ParseError", "Plugin", "RpcError", "Segment", "VisualizerPlugin", "load_manifest", "serve", "validate_config",
]
