"""One fuzz target: its library, its libFuzzer binary, its regression test."""

def ken_fuzz_target(name, deps):
    """`name`_fuzzer.cc defines LLVMFuzzerTestOneInput.

    Makes:
      <name>_fuzzer: the libFuzzer binary (only with --config=fuzz, which
        builds with clang; tagged manual so that `bazel build //...` with gcc
        skips it); tools/fuzz.sh runs it.
      <name>_regression_test: every input of corpus/<name> (the seeds) and
        regressions/<name> (crashes found, kept) run once through the target;
        part of every build, sanitized or not.
    """
    native.cc_library(
        name = name + "_target",
        srcs = [name + "_fuzzer.cc"],
        deps = deps + [":fuzz_input", ":support"],
        alwayslink = 1,
    )
    native.cc_binary(
        name = name + "_fuzzer",
        linkopts = ["-fsanitize=fuzzer"],
        tags = ["manual"],
        deps = [":" + name + "_target", "//tools/sanitizers:defaults"],
    )
    native.cc_test(
        name = name + "_regression_test",
        size = "small",
        srcs = ["replay_main.cc"],
        args = ["fuzz/corpus/" + name, "?fuzz/regressions/" + name],
        data = native.glob(["corpus/" + name + "/**", "regressions/" + name + "/**"]),
        deps = [":" + name + "_target", "//tools/sanitizers:defaults"],
    )
