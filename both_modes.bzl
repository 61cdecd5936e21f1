"""A test that runs in both durability modes (README, "Durability modes").

both_modes_test(name, srcs, deps, ...) compiles the sources once (a library
with alwayslink) and declares two cc_tests on it: `name`, in the default
mode, and `name_snapshot` / `name_journal` (whichever is not the default),
with KEN_TEST_DURABILITY set (tests/util/subprocess.h, DurabilityUnderTest).
"""

# Must match kDefaultDurability (runtime/node/node.h).
DEFAULT_DURABILITY = "journal"
OTHER_DURABILITY = "journal" if DEFAULT_DURABILITY == "snapshot" else "snapshot"

def both_modes_test(name, srcs, deps = [], data = [], size = "medium", linkopts = [], **kwargs):
    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        deps = deps,
        linkopts = linkopts,
        alwayslink = True,
    )
    native.cc_test(
        name = name,
        size = size,
        data = data,
        deps = [":" + name + "_lib"],
        **kwargs
    )
    native.cc_test(
        name = name + "_" + OTHER_DURABILITY,
        size = size,
        data = data,
        deps = [":" + name + "_lib"],
        env = {"KEN_TEST_DURABILITY": OTHER_DURABILITY},
        **kwargs
    )
