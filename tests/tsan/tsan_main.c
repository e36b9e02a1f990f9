/* The ThreadSanitizer runner (make tsan): only the concurrency suite, against the TSan-built
 * plugin (build/tsan/libdapo_inspect.so, via DAPO_PLUGIN). */
#include <check.h>
#include <stdlib.h>

Suite *concurrency_suite(void);

int main(void)
{
    SRunner *runner = srunner_create(concurrency_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
