# lit configuration for lfm2c. Tests live next to the code they test (ir/test,
# passes/test, frontend/...), so the suite root is the repository root and
# discovery is limited to the source folders below.
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

if not hasattr(config, "lfm2c_obj_root"):
    lit_config.fatal(
        "tests/lit.cfg.py needs the build's site config; run lit on the build "
        "tree, e.g. `lit build/tests` or `lit build/tests/ir/test/ops.mlir`")

# tests/ is both a test folder and the home of this file. Without this, lit
# would take tests/lit.cfg.py for the config of a nested suite when it walks
# into tests/, and load it without the site config.
lit_config.config_names = [
    name for name in lit_config.config_names if name != "lit.cfg.py"
]

config.name = "lfm2c"
# lit 23 drops the external shell; its internal shell runs the RUN lines.
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]

config.test_source_root = config.lfm2c_src_root
config.test_exec_root = os.path.join(config.lfm2c_obj_root, "tests")

# Only these folders hold tests; everything else under the root (build trees,
# docs, third-party checkouts) is skipped.
_test_dirs = {"ir", "passes", "frontend", "targets", "tests"}
config.excludes = [
    entry
    for entry in os.listdir(config.lfm2c_src_root)
    if entry not in _test_dirs
] + ["README.md", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py.in",
     "testdata", "Inputs"]

config.substitutions.append(("%fixtures", config.lfm2c_fixtures_dir))

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.lfm2c_tools_dir, append_path=True)

tools = [
    ToolSubst("lfm2c-opt", unresolved="fatal"),
    ToolSubst("lfm2c", unresolved="fatal"),
    ToolSubst("FileCheck", unresolved="fatal"),
    ToolSubst("not", unresolved="fatal"),
    ToolSubst("split-file", unresolved="fatal"),
]
llvm_config.add_tool_substitutions(
    tools, [config.lfm2c_tools_dir, config.llvm_tools_dir])
