"""Chart helpers shared by the bundled visualizers (not a plugin: no plugin.toml, so discovery skips it).

`svg`: self-contained SVG/HTML charts on the standard library; `mpl`: deterministic
matplotlib figures (import only where a PNG/SVG is drawn); `palette`: colours. They
are not part of the SDK: outside plugin authors choose their own drawing tools.
"""
