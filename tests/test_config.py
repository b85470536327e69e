"""HardwareConfig: VTA's own vta_config.json loads as is, presets load, bad values are one line."""

from __future__ import annotations

import json

import pytest

from fusiongym.accelerator.config import ConfigError, HardwareConfig, load_config, make_config, preset_names

# apache/tvm-vta config/vta_config.json, default values (FACTS.md), upper-case keys as shipped
VTA_CONFIG_JSON = {
    "TARGET": "sim",
    "HW_VER": "0.0.2",
    "LOG_INP_WIDTH": 3,
    "LOG_WGT_WIDTH": 3,
    "LOG_ACC_WIDTH": 5,
    "LOG_BATCH": 0,
    "LOG_BLOCK": 4,
    "LOG_UOP_BUFF_SIZE": 15,
    "LOG_INP_BUFF_SIZE": 15,
    "LOG_WGT_BUFF_SIZE": 18,
    "LOG_ACC_BUFF_SIZE": 17,
}


def test_vta_config_json_loads_as_is(tmp_path):
    path = tmp_path / "vta_config.json"
    path.write_text(json.dumps(VTA_CONFIG_JSON, indent=2))
    hw = load_config(path)
    # FACTS.md "derived (defaults)"
    assert (hw.inp_bits, hw.wgt_bits, hw.acc_bits) == (8, 8, 32)
    assert (hw.batch, hw.block_in, hw.block_out) == (1, 16, 16)
    assert hw.uop_buff_bytes == 32 * 1024
    assert hw.inp_buff_bytes == 32 * 1024
    assert hw.wgt_buff_bytes == 256 * 1024
    assert hw.acc_buff_bytes == 128 * 1024
    assert hw.out_buff_bytes == 32 * 1024
    assert hw.block_in * hw.inp_bits // 8 == 16  # one input vector
    assert hw.block_in * hw.block_out * hw.wgt_bits // 8 == 256  # one weight block
    assert hw.block_out * hw.acc_bits // 8 == 64  # one accumulator vector
    assert hw.inp_buff_bytes // 16 == 2048 and hw.wgt_buff_bytes // 256 == 1024
    assert hw.acc_buff_bytes // 64 == 2048 and hw.uop_buff_bytes // 4 == 8192
    assert hw.macs_per_cycle == 256
    assert hw.instruction_bytes == 16  # 128-bit instructions
    assert hw.target == "sim" and hw.hw_ver == "0.0.2"


def test_vta_defaults_equal_our_defaults():
    """The upper-case file and an empty config describe the same core."""
    assert make_config(dict(VTA_CONFIG_JSON)).key == HardwareConfig().key


def test_older_vta_schema_keys():
    """HW_FREQ / GEMM_II / TALU_II / LOG_BLOCK_IN / LOG_BUS_WIDTH of older vta_config.json."""
    hw = make_config({**VTA_CONFIG_JSON, "HW_FREQ": 333, "GEMM_II": 2, "TALU_II": 4,
                      "LOG_BLOCK_IN": 4, "LOG_BLOCK_OUT": 4, "LOG_BUS_WIDTH": 7})
    assert hw.clock_mhz == 333.0 and hw.gemm_ii == 2 and hw.alu_ii == 4
    assert hw.dram_bandwidth_bytes_per_cycle == 16.0
    assert hw.macs_per_cycle == 128  # II 2 halves the GEMM throughput


@pytest.mark.parametrize("name", ["pynq", "ultra96", "vta16", "mlu100"])
def test_presets_load(name):
    hw = load_config(name)
    assert hw.name == name
    assert hw.default_cores in hw.allowed_core_counts
    assert max(hw.allowed_core_counts) <= hw.num_cores


def test_preset_board_facts():
    """Clock and bus width of the boards in FACTS.md."""
    pynq, ultra96, dlf = load_config("pynq"), load_config("ultra96"), load_config("vta16")
    assert pynq.clock_mhz == 100 and pynq.dram_bandwidth_bytes_per_cycle == 8  # 64-bit AXI
    assert ultra96.clock_mhz == 333 and ultra96.dram_bandwidth_bytes_per_cycle == 16  # 128-bit
    assert pynq.num_cores == ultra96.num_cores == 1
    assert dlf.num_cores == 16 and dlf.allowed_core_counts == (1, 2, 4, 8, 16)
    # 102.4 GB/s at 1 GHz
    assert dlf.dram_bandwidth_bytes_per_cycle * dlf.clock_mhz * 1e6 == pytest.approx(102.4e9)
    assert set(preset_names()) >= {"pynq", "ultra96", "vta16"}


def test_default_config_is_mlu100():
    assert load_config(None).name == "mlu100"


def test_mlu100_is_the_machine_dlfusion_ran_on():
    """FACTS.md: 128 int8 TOPS at 1 GHz over 102.4 GB/s, ~1,250 int8 ops per DRAM byte."""
    hw = load_config("mlu100")
    tops = 2 * hw.peak_macs_per_cycle * hw.clock_mhz * 1e6 / 1e12
    assert tops == pytest.approx(128, rel=0.05)
    assert hw.dram_bandwidth_bytes_per_cycle * hw.clock_mhz * 1e6 == pytest.approx(102.4e9)
    assert 1250 / 2 <= hw.machine_balance_ops_per_byte <= 1250 * 2
    assert hw.allowed_core_counts == (1, 2, 4, 8, 16) and hw.default_cores == 1
    assert hw.requantize_in_gemm and not load_config("vta16").requantize_in_gemm
    # a 64-wide block's weight chunk (3x3 x 512 -> 64) fits the weight buffer twice over
    assert 2 * 9 * 512 * hw.block_out <= hw.wgt_buff_bytes
    # the old default keeps its VTA-class balance (its numbers reproduce)
    assert load_config("vta16").machine_balance_ops_per_byte == pytest.approx(80)


@pytest.mark.parametrize("changes, key", [
    ({"log_inp_buff_size": 0}, "log_inp_buff_size"),
    ({"LOG_WGT_BUFF_SIZE": -3}, "log_wgt_buff_size"),
    ({"num_cores": 0}, "num_cores"),
    ({"dram_bandwidth_bytes_per_cycle": 0.0}, "dram_bandwidth_bytes_per_cycle"),
    ({"dram_bandwidth_bytes_per_cycle": -8.0}, "dram_bandwidth_bytes_per_cycle"),
    ({"cmd_queue_depth": 0}, "cmd_queue_depth"),
    ({"token_queue_depth": -1}, "token_queue_depth"),
    ({"clock_mhz": 0.0}, "clock_mhz"),
    ({"LOG_BLOCK": 0}, "log_block"),
    ({"virtual_threads": 3}, "virtual_threads"),
    ({"dram_burst_bytes": 3000}, "dram_burst_bytes"),
    ({"dram_burst_bytes": 4097}, "dram_burst_bytes"),
    ({"num_cores": 4, "core_counts": [1, 2, 4], "default_cores": 3}, "default_cores"),
    ({"num_cores": 4, "default_cores": 8}, "default_cores"),
    ({"num_cores": 4, "core_counts": [1, 2, 8]}, "core_counts"),
    ({"num_cores": 4, "core_counts": [0, 1]}, "core_counts"),
    ({"log_inp_bufff_size": 15}, "log_inp_bufff_size"),
    ({"LOG_BUS_WIDTH": 2}, "LOG_BUS_WIDTH"),
])
def test_invalid_values_raise_one_line_naming_the_key(changes, key):
    with pytest.raises(ConfigError) as err:
        make_config(changes, source="hw.yaml")
    message = str(err.value)
    assert "\n" not in message
    assert key in message, message
    assert message.startswith("hw.yaml")


def test_unknown_key_says_unknown(tmp_path):
    path = tmp_path / "hw.yaml"
    path.write_text("name: x\nnum_cores: 2\nmagic_knob: 3\n")
    with pytest.raises(ConfigError, match=r"magic_knob.*unknown key"):
        load_config(path)


@pytest.mark.parametrize("text, fragment", [
    ("num_cores: [1, 2\n", "not valid YAML"),
    ("", "empty"),
    ("- 1\n- 2\n", "mapping"),
])
def test_bad_files_are_one_line(tmp_path, text, fragment):
    path = tmp_path / "hw.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_missing_file_names_presets():
    with pytest.raises(ConfigError, match="pynq"):
        load_config("no_such_board")


def test_with_validates_and_keeps_the_rest():
    hw = load_config("vta16")
    serial = hw.with_(forced_serial=True)
    assert serial.forced_serial and serial.num_cores == 16 and serial.key != hw.key
    with pytest.raises(ConfigError, match="num_cores"):
        hw.with_(num_cores=8)  # core_counts up to 16 no longer fit


def test_config_is_frozen_and_hashable():
    hw = load_config("pynq")
    with pytest.raises(Exception):
        hw.num_cores = 4  # type: ignore[misc]
    assert hash(hw) == hash(load_config("pynq"))
