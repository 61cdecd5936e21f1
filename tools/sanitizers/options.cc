// Default options of the sanitizer runtimes (see BUILD). Each is read once,
// before main, by the runtime that defines the matching weak symbol.
extern "C" {

// ASan: report every error with a symbolized stack and stop at the first.
// Leak checking stays on (LeakSanitizer; suppressions in lsan.supp).
const char* __asan_default_options() { return "detect_leaks=1:print_suppressions=0:strict_string_checks=1"; }

// UBSan: a stack with every report (the configs also stop at the first:
// -fno-sanitize-recover=all).
const char* __ubsan_default_options() { return "print_stacktrace=1:halt_on_error=1"; }

// TSan: fail the test at the first report (exit code 66 otherwise only at exit).
const char* __tsan_default_options() { return "halt_on_error=1:second_deadlock_stack=1:print_suppressions=0"; }

const char* __lsan_default_options() { return "print_suppressions=0"; }

}  // extern "C"
