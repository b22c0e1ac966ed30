package httpapi

import (
	"context"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/punchcard-loyalty/punchcard/platform/policystore"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
	"github.com/punchcard-loyalty/punchcard/policies"
)

// policyRequest publishes a new version of a tenant's policy.
type policyRequest struct {
	Modules     map[string]string `json:"modules" jsonschema:"description=Rego modules: file name (ending in .rego) → source; _test.rego files are kept with the version and run by punchcard policy test"`
	Data        map[string]any    `json:"data,omitempty" jsonschema:"description=JSON data document the modules read as data.tenant (block lists, store lists)"`
	ReplaceBase bool              `json:"replace_base,omitempty" jsonschema:"description=stacking only: the modules replace the base stacking policy instead of adding to it"`
}

// policyVersionBody is one immutable version.
type policyVersionBody struct {
	Object      string            `json:"object"`
	Kind        policies.Kind     `json:"kind"`
	Version     int               `json:"version"`
	Active      bool              `json:"active"`
	Digest      string            `json:"digest"`
	Modules     map[string]string `json:"modules"`
	Data        map[string]any    `json:"data,omitempty"`
	ReplaceBase bool              `json:"replace_base"`
	CreatedBy   string            `json:"created_by"`
	CreatedAt   time.Time         `json:"created_at"`
}

// policyVersionSummary is a version in a listing.
type policyVersionSummary struct {
	Version     int       `json:"version"`
	Active      bool      `json:"active"`
	Digest      string    `json:"digest"`
	Modules     []string  `json:"modules"`
	ReplaceBase bool      `json:"replace_base"`
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// policyBody is a kind's active version and every version.
type policyBody struct {
	Object        string                 `json:"object"`
	Kind          policies.Kind          `json:"kind"`
	ActiveVersion *int                   `json:"active_version" jsonschema:"description=null while the base policies alone decide"`
	Active        *policyVersionBody     `json:"active"`
	Versions      []policyVersionSummary `json:"versions"`
}

// evaluateRequest is a dry run.
type evaluateRequest struct {
	Input   map[string]any `json:"input" jsonschema:"description=the policy input document (policies/README.md)"`
	Version *int           `json:"version,omitempty" jsonschema:"description=the version to evaluate; default the active one"`
}

// evaluationBody is a dry run's decision.
type evaluationBody struct {
	Object           string            `json:"object"`
	Kind             policies.Kind     `json:"kind"`
	Version          string            `json:"version" jsonschema:"description=the version number, or base"`
	Decision         string            `json:"decision" jsonschema:"enum=allow,enum=review,enum=deny"`
	Allowed          bool              `json:"allowed"`
	Deny             []policies.Reason `json:"deny"`
	Review           []policies.Reason `json:"review"`
	RiskScore        *float64          `json:"risk_score,omitempty"`
	Members          []string          `json:"members,omitempty" jsonschema:"description=segments: the segments the customer belongs to"`
	EvaluationTimeUS int64             `json:"evaluation_time_us"`
	Error            string            `json:"error,omitempty" jsonschema:"description=why the policy failed (policy_error), for its author"`
}

func policyKind(c *gin.Context) (policies.Kind, error) {
	k := policies.Kind(c.Param("kind"))
	if !k.Valid() {
		return "", problem.NotFound("policy", c.Param("kind"))
	}
	return k, nil
}

func versionParam(c *gin.Context) (int, error) {
	n, err := strconv.Atoi(c.Param("version"))
	if err != nil || n < 1 {
		return 0, problem.Invalidf("version", "version: %q is not a version number (1, 2, …)", c.Param("version"))
	}
	return n, nil
}

func toPolicyVersion(v *policystore.Version, active bool) policyVersionBody {
	mods := v.Modules
	if mods == nil {
		mods = policies.Modules{}
	}
	return policyVersionBody{Object: "policy_version", Kind: v.Kind, Version: v.Number, Active: active, Digest: v.Digest,
		Modules: mods, Data: v.Data, ReplaceBase: v.ReplaceBase, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt.UTC()}
}

func (s *Server) putPolicy(c *gin.Context) error {
	kind, err := policyKind(c)
	if err != nil {
		return err
	}
	var req policyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Modules == nil && req.Data == nil {
		return problem.Invalid("modules", "modules: a policy needs modules (file name → Rego source) or a data document")
	}
	v, err := s.Policies.Publish(c.Request.Context(), principal(c).Tenant.ID, kind,
		policystore.Draft{Modules: req.Modules, Data: req.Data, ReplaceBase: req.ReplaceBase})
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, toPolicyVersion(v, true))
	return nil
}

func (s *Server) getPolicy(c *gin.Context) error {
	kind, err := policyKind(c)
	if err != nil {
		return err
	}
	l, err := s.Policies.List(c.Request.Context(), principal(c).Tenant.ID, kind)
	if err != nil {
		return err
	}
	body := policyBody{Object: "policy", Kind: kind, Versions: make([]policyVersionSummary, 0, len(l.Versions))}
	for _, v := range l.Versions {
		active := v.Number == l.Active
		if active {
			n, av := v.Number, toPolicyVersion(v, true)
			body.ActiveVersion, body.Active = &n, &av
		}
		body.Versions = append(body.Versions, policyVersionSummary{Version: v.Number, Active: active, Digest: v.Digest,
			Modules: slices.Sorted(maps.Keys(v.Modules)), ReplaceBase: v.ReplaceBase, CreatedBy: v.CreatedBy, CreatedAt: v.CreatedAt.UTC()})
	}
	c.JSON(http.StatusOK, body)
	return nil
}

func (s *Server) getPolicyVersion(c *gin.Context) error {
	kind, err := policyKind(c)
	if err != nil {
		return err
	}
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	v, active, err := s.Policies.Get(c.Request.Context(), principal(c).Tenant.ID, kind, n)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toPolicyVersion(v, active))
	return nil
}

func (s *Server) activatePolicy(c *gin.Context) error {
	kind, err := policyKind(c)
	if err != nil {
		return err
	}
	n, err := versionParam(c)
	if err != nil {
		return err
	}
	v, err := s.Policies.Activate(c.Request.Context(), principal(c).Tenant.ID, kind, n)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, toPolicyVersion(v, true))
	return nil
}

func (s *Server) evaluatePolicy(c *gin.Context) error {
	kind, err := policyKind(c)
	if err != nil {
		return err
	}
	var req evaluateRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Input == nil {
		return problem.Invalid("input", "input: the policy input document (a JSON object) is required")
	}
	ctx, tenantID := c.Request.Context(), principal(c).Tenant.ID
	p, err := s.policyToEvaluate(ctx, tenantID, kind, req.Version)
	if err != nil {
		return err
	}
	d, evalErr := s.PolicyEngine.EvaluatePolicy(ctx, tenantID, kind, p, req.Input)
	body := evaluationBody{Object: "policy_evaluation", Kind: kind, Version: p.Version, Decision: decisionName(d),
		Allowed: d.Allowed(), Deny: orNone(d.Deny), Review: orNone(d.Review), Members: d.Members,
		EvaluationTimeUS: d.Duration.Microseconds()}
	if body.Version == "" {
		body.Version = policies.BaseVersion
	}
	if kind == policies.Fraud {
		score := d.RiskScore
		body.RiskScore = &score
	}
	if evalErr != nil {
		body.Error = evalErr.Error()
	}
	c.JSON(http.StatusOK, body)
	return nil
}

// policyToEvaluate is version n of kind, or the active version when n is nil.
func (s *Server) policyToEvaluate(ctx context.Context, tenantID string, kind policies.Kind, n *int) (policies.TenantPolicy, error) {
	if n == nil {
		return s.Policies.Active(ctx, tenantID, kind)
	}
	if *n < 1 {
		return policies.TenantPolicy{}, problem.Invalidf("version", "version: %d is not a version number (1, 2, …)", *n)
	}
	v, _, err := s.Policies.Get(ctx, tenantID, kind, *n)
	if err != nil {
		return policies.TenantPolicy{}, err
	}
	return v.Policy(), nil
}

func decisionName(d policies.Decision) string {
	switch {
	case len(d.Deny) > 0:
		return "deny"
	case len(d.Review) > 0:
		return "review"
	}
	return "allow"
}

func orNone(r []policies.Reason) []policies.Reason {
	if r == nil {
		return []policies.Reason{}
	}
	return r
}
