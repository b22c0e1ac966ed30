// Package policies owns Punchcard's policy decision points: the base Rego
// policies for eligibility, stacking, fraud and segments (embedded from base/),
// the checks a tenant's policy version passes before it is published (Check:
// package per kind, size and AST depth limits, sandboxed builtins, strict
// compile), the sandbox every policy is compiled in (no network, no runtime
// information, strict mode), the memory-bounded cache of prepared queries per
// (tenant, kind, version) with one shared query per kind for the base
// policies, the memo of decisions keyed by what a version reads of its input
// (memo.go), the evaluation that turns a Rego result into a typed Decision with
// reasons, and the runner of a tenant's Rego tests. A failed or timed-out
// evaluation always denies. Go gathers every input; Rego never fetches
// anything, and a tenant's data document is the only data its modules read.
package policies

import (
	"fmt"
	"time"
)

// Kind names a decision point. Each kind is one Rego package, punchcard.<kind>.
type Kind string

// The decision points.
const (
	Eligibility Kind = "eligibility" // per redeemable: may it be used for this customer and order?
	Stacking    Kind = "stacking"    // per applicable redeemable: may it combine with those already applied?
	Fraud       Kind = "fraud"       // per request: deny, review or let through, with a risk score
	Segments    Kind = "segments"    // per customer: the set of segment names the customer belongs to
)

// Kinds lists every decision point.
var Kinds = []Kind{Eligibility, Stacking, Fraud, Segments}

// Valid reports whether k is one of the decision points.
func (k Kind) Valid() bool {
	switch k {
	case Eligibility, Stacking, Fraud, Segments:
		return true
	}
	return false
}

// Package is the Rego package of k, e.g. "punchcard.eligibility".
func (k Kind) Package() string { return "punchcard." + string(k) }

// Codes the engine itself denies with when a policy cannot be evaluated.
const (
	CodeTimeout = "policy_timeout" // evaluation ran past its deadline
	CodeError   = "policy_error"   // the policy failed to compile or evaluate
)

// Reason explains one element of a decision. Code is the machine-readable key the
// API returns as the redeemable's error key; Rule names the rule that fired, e.g.
// "rules.min_order_amount" or "limits.per_customer". An element a tenant module
// wrote without a rule (a bare string, or an object without "rule") gets
// RuleTenant: Rego does not say which rule produced a set element.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Rule    string `json:"rule"`
}

func (r Reason) String() string { return fmt.Sprintf("%s (%s): %s", r.Code, r.Rule, r.Message) }

// RuleTenant is the Rule of a reason whose element named no rule.
const RuleTenant = "tenant"

// Decision is the outcome of one evaluation. Any Deny reason denies; Review
// reasons let the request through but flag it. RiskScore (0–100) is only set by
// fraud policies; Members (sorted segment names) only by segments policies.
// Duration is how long the evaluation took, cache lookup and compilation
// included.
type Decision struct {
	Kind      Kind
	Deny      []Reason
	Review    []Reason
	RiskScore float64
	Members   []string
	Duration  time.Duration
}

// Allowed reports whether the decision lets the request through (no Deny reason).
func (d Decision) Allowed() bool { return len(d.Deny) == 0 }

// outcome is the policy.decision span attribute: "deny", "review" or "allow".
func (d Decision) outcome() string {
	switch {
	case len(d.Deny) > 0:
		return "deny"
	case len(d.Review) > 0:
		return "review"
	}
	return "allow"
}

// denyCodes are the distinct deny codes in order of first appearance.
func (d Decision) denyCodes() []string {
	codes := make([]string, 0, len(d.Deny))
	seen := make(map[string]bool, len(d.Deny))
	for _, r := range d.Deny {
		if !seen[r.Code] {
			seen[r.Code] = true
			codes = append(codes, r.Code)
		}
	}
	return codes
}
