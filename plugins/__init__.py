"""The bundled plugins. Each folder is a plugin with its own plugin.toml; they are
discovered like any outside plugin and import only `plugin_sdk`."""
