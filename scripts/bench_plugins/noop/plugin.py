from qualia.plugin_sdk import AnalyzerPlugin, serve


class Noop(AnalyzerPlugin):
    def analyze(self, document, config, inputs):
        return {}


if __name__ == "__main__":
    serve(Noop)
