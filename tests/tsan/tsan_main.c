/* The ThreadSanitizer runner (make tsan): only the concurrency suite, against the TSan-built
 * plugin (build/tsan/libdapo_inspect.so, via DAPO_PLUGIN). */
#include <check.h>
#include <stdlib.h>

Suite *concurrency_suite(void);

int main(void)
{
    /* tests never write the real ~/.cache: the text-feature cache is off unless a test's
     * recipe names a temporary directory (the recipe's text_cache wins over this) */
    setenv("DAPO_TEXT_CACHE", "none", 1);
    SRunner *runner = srunner_create(concurrency_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
