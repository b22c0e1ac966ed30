package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/punchcard-loyalty/punchcard/policies"
)

const policyDirHelp = `<dir> holds a tenant's policies as they would be published: every *.rego
file under it (module names are slash paths relative to <dir>) goes to the
kind of its package, punchcard.<kind> or a subpackage for policies,
punchcard.<kind>_test for tests, where <kind> is eligibility, stacking, fraud
or segments. <dir>/<kind>.data.json, when present, is the kind's data
document, which the modules read at data.tenant. --replace-base compiles the
stacking modules without the base stacking policy. No database or network is
used.`

func policyCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check and test a tenant's Rego policies before publishing them",
	}
	var replaceBase bool
	check := &cobra.Command{
		Use:   "check <dir>",
		Short: "Check the policies in <dir> as publishing would; exit 1 on any problem",
		Long: "Check the policies in <dir> exactly as PUT /v1/policies/{kind} does: names, packages,\n" +
			"size and nesting limits, forbidden builtins, a strict compile with the base policies.\n" +
			"Each problem is printed as file:row:col: message.\n\n" + policyDirHelp,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			kinds, err := readPolicyDir(a[0], replaceBase)
			if err != nil {
				return problemsExit(stdout, err)
			}
			var problems []policies.Problem
			for _, k := range policies.Kinds {
				p, ok := kinds[k]
				if !ok {
					continue
				}
				if err := policies.Check(cmd.Context(), k, p); err != nil {
					problems = append(problems, policies.Problems(err)...)
					continue
				}
				fmt.Fprintf(stdout, "ok: %s (%d modules)\n", k, len(p.Modules))
			}
			if len(problems) > 0 {
				return printProblems(stdout, problems)
			}
			return nil
		},
	}
	check.Flags().BoolVar(&replaceBase, "replace-base", false, "compile the stacking modules without the base stacking policy")

	test := &cobra.Command{
		Use:   "test <dir>",
		Short: "Run the _test.rego files in <dir>; exit 1 on a failure or a compile error",
		Long: "Run the tenant's _test.rego files in <dir> against the base policies, the tenant's\n" +
			"modules and data document, in the engine's sandbox (the base policies' own tests are\n" +
			"not run). Each test is printed as file:row: data.<package>.<test>: PASS, FAIL, ERROR or\n" +
			"SKIPPED, with what it printed, then a summary.\n\n" + policyDirHelp,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			kinds, err := readPolicyDir(a[0], replaceBase)
			if err != nil {
				return problemsExit(stdout, err)
			}
			var results []policies.TestResult
			var problems []policies.Problem
			for _, k := range policies.Kinds {
				p, ok := kinds[k]
				if !ok {
					continue
				}
				rs, err := policies.RunTenantTests(cmd.Context(), k, p)
				if err != nil {
					problems = append(problems, policies.Problems(err)...)
					continue
				}
				results = append(results, rs...)
			}
			if len(problems) > 0 {
				return printProblems(stdout, problems)
			}
			return printTestResults(stdout, results)
		},
	}
	test.Flags().BoolVar(&replaceBase, "replace-base", false, "compile the stacking modules without the base stacking policy")
	cmd.AddCommand(check, test)
	return cmd
}

// readPolicyDir reads the policies in dir; a missing directory is a usage error.
func readPolicyDir(dir string, replaceBase bool) (map[policies.Kind]policies.TenantPolicy, error) {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, usageError{fmt.Errorf("%s is not a directory", dir)}
	}
	kinds, err := policies.ReadDir(os.DirFS(dir))
	if err != nil {
		return nil, err
	}
	if p, ok := kinds[policies.Stacking]; ok || replaceBase {
		p.ReplaceBase = replaceBase
		kinds[policies.Stacking] = p
	}
	return kinds, nil
}

// problemsExit prints the problems of a directory that could not be read as
// policies, or returns err as it is when it is not about the policies.
func problemsExit(w io.Writer, err error) error {
	var ue usageError
	if errors.As(err, &ue) {
		return err
	}
	return printProblems(w, policies.Problems(err))
}

func printProblems(w io.Writer, problems []policies.Problem) error {
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
	return exitError{code: 1, msg: fmt.Sprintf("%d policy problems", len(problems))}
}

func printTestResults(w io.Writer, results []policies.TestResult) error {
	var pass, fail, errored, skipped int
	for _, r := range results {
		fmt.Fprintln(w, r)
		if r.Output != "" {
			fmt.Fprint(w, r.Output)
		}
		switch {
		case r.Err != nil:
			errored++
		case r.Fail:
			fail++
		case r.Skip:
			skipped++
		default:
			pass++
		}
	}
	total := len(results)
	if total == 0 {
		fmt.Fprintln(w, "no tests found")
		return nil
	}
	fmt.Fprintln(w, "--------------------------------------------------------------------------------")
	fmt.Fprintf(w, "PASS: %d/%d\n", pass, total)
	if fail > 0 {
		fmt.Fprintf(w, "FAIL: %d/%d\n", fail, total)
	}
	if errored > 0 {
		fmt.Fprintf(w, "ERROR: %d/%d\n", errored, total)
	}
	if skipped > 0 {
		fmt.Fprintf(w, "SKIPPED: %d/%d\n", skipped, total)
	}
	if fail+errored > 0 {
		return exitError{code: 1, msg: fmt.Sprintf("%d of %d policy tests failed", fail+errored, total)}
	}
	return nil
}
