"""Every plugin process runs under a memory ceiling (manifest `max_memory_mb`, default
QUALIA_MAX_MEMORY_MB); going over it is the plugin's fault, reported with the limit."""
from __future__ import annotations

import resource

import pytest

from qualia.kernel import Settings
from qualia.kernel.errors import PluginFault
from qualia.plugin_sdk import Document
from tests.conftest import FIXTURES, problem_plugin, write_plugin

DOC = Document(text="texto")
MIB = 1024 * 1024


async def test_the_manifest_sets_the_ceiling_of_the_plugin_process(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "capped", "limits", extra="max_memory_mb = 300\n")
    kernel = await make_kernel()
    limits = (await kernel.run("capped", DOC)).result
    assert limits["data"] == 300 * MIB


async def test_without_the_key_the_kernel_default_applies(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "plain", "limits")
    kernel = await make_kernel()
    assert (await kernel.run("plain", DOC)).result["data"] == 2048 * MIB
    other = await make_kernel(max_memory_mb=512)
    assert (await other.run("plain", DOC, use_cache=False)).result["data"] == 512 * MIB


async def test_no_default_ceiling_when_the_setting_is_zero(make_kernel, plugin_dir):
    problem_plugin(plugin_dir, "plain", "limits")
    kernel = await make_kernel(max_memory_mb=0)
    assert (await kernel.run("plain", DOC)).result["data"] == resource.getrlimit(resource.RLIMIT_DATA)[0]


def test_the_default_ceiling_is_read_from_the_environment(tmp_path):
    assert Settings.from_env({"QUALIA_HOME": str(tmp_path)}).max_memory_mb == 2048
    assert Settings.from_env({"QUALIA_HOME": str(tmp_path), "QUALIA_MAX_MEMORY_MB": "700"}).max_memory_mb == 700
    with pytest.raises(ValueError, match="QUALIA_MAX_MEMORY_MB"):
        Settings.from_env({"QUALIA_HOME": str(tmp_path), "QUALIA_MAX_MEMORY_MB": "-1"})


async def test_a_memory_error_in_an_sdk_plugin_is_a_fault_naming_the_limit(make_kernel, plugin_dir):
    write_plugin(plugin_dir, "hungry", ["{python}", str(FIXTURES / "memory_sdk_plugin.py")],
                 extra="max_memory_mb = 200\n[parameters.mib]\ntype = \"integer\"\n")
    kernel = await make_kernel()
    assert (await kernel.run("hungry", DOC, {"mib": 10})).result == {"allocated": 10 * MIB}
    with pytest.raises(PluginFault) as caught:
        await kernel.run("hungry", DOC, {"mib": 400})
    error = caught.value
    assert error.code == "plugin_out_of_memory" and error.status == 502
    assert "'hungry'" in error.message and "200 MiB" in error.message and "max_memory_mb" in error.message
    assert error.details["max_memory_mb"] == 200
    assert kernel.plugin_status("hungry").breaker.total_failures == 1
    # The SDK process survived its MemoryError and still serves.
    assert (await kernel.run("hungry", DOC, {"mib": 10}, use_cache=False)).result == {"allocated": 10 * MIB}


async def test_a_plugin_that_dies_of_its_memory_error_is_a_fault_naming_the_limit(make_kernel, plugin_dir):
    write_plugin(plugin_dir, "hog", ["{python}", str(FIXTURES / "problem_plugin.py"), "hog", "400"],
                 extra="max_memory_mb = 200\n")
    kernel = await make_kernel()
    with pytest.raises(PluginFault) as caught:
        await kernel.run("hog", DOC)
    error = caught.value
    assert error.code == "plugin_out_of_memory"
    assert "exited with code 1" in error.message and "200 MiB" in error.message
    assert any("MemoryError" in line for line in error.details["stderr_tail"])
