package httpapi

import (
	"net/http"

	"github.com/punchcard-loyalty/punchcard/platform/campaigns"
	"github.com/punchcard-loyalty/punchcard/platform/redemption"

	"github.com/punchcard-loyalty/punchcard/tenants"
)

type authKind int

const (
	authNone     authKind = iota // public: health, metrics, the OpenAPI document
	authTenant                   // a tenant API key with one of the route's roles (admin always)
	authOperator                 // the operator token
)

// route is one entry of the route table: how to serve it and how to document it.
type route struct {
	method  string
	path    string // gin syntax (:id); the OpenAPI document uses {id}
	auth    authKind
	roles   []tenants.Role
	handler handlerFunc
	doc     doc
}

// doc describes a route in /openapi.json.
type doc struct {
	summary  string
	tag      string
	request  any // a value of the request body type, or nil
	response any // a value of the success body type, or nil for no body
	status   int // success status (default 200)
	query    []param
	ndjson   bool // the success body is an NDJSON stream of response
	text     bool // the success body is text/plain
}

type param struct {
	name, typ, description string
}

// Role sets used by the route table.
var (
	customerRoles = []tenants.Role{tenants.RoleMarketer, tenants.RoleSupport, tenants.RoleDeveloper, tenants.RolePOS}
	auditRoles    = []tenants.Role{tenants.RoleAuditor}
	policyWrite   = []tenants.Role{tenants.RoleDeveloper}
	policyRead    = []tenants.Role{tenants.RoleDeveloper, tenants.RoleAuditor}
)

// routeTable is every route Punchcard serves. The cross-tenant test matrix and the
// OpenAPI document are generated from it.
func (s *Server) routeTable() []route {
	return []route{
		{method: http.MethodGet, path: "/healthz", handler: s.healthz,
			doc: doc{summary: "Liveness: the process is up", tag: "Operations", response: healthBody{}}},
		{method: http.MethodGet, path: "/readyz", handler: s.readyz,
			doc: doc{summary: "Readiness: the database answers and migrations are current", tag: "Operations", response: healthBody{}}},
		{method: http.MethodGet, path: "/metrics", handler: s.metrics,
			doc: doc{summary: "Prometheus metrics", tag: "Operations", text: true}},
		{method: http.MethodGet, path: "/openapi.json", handler: s.openAPI,
			doc: doc{summary: "This OpenAPI 3.1 document", tag: "Operations", response: map[string]any{}}},

		// Customers (Voucherify v1 shapes).
		{method: http.MethodPost, path: "/v1/customers", auth: authTenant, roles: customerRoles, handler: s.upsertCustomer,
			doc: doc{summary: "Create a customer, or update the one with the same source_id", tag: "Customers", request: customerRequest{}, response: customerResponse{}}},
		{method: http.MethodGet, path: "/v1/customers", auth: authTenant, roles: customerRoles, handler: s.listCustomers,
			doc: doc{summary: "List customers", tag: "Customers", response: customerList{}, query: customerListParams}},
		{method: http.MethodGet, path: "/v1/customers/:id", auth: authTenant, roles: customerRoles, handler: s.getCustomer,
			doc: doc{summary: "Get a customer by id or source_id", tag: "Customers", response: customerResponse{}}},
		{method: http.MethodPut, path: "/v1/customers/:id", auth: authTenant, roles: customerRoles, handler: s.updateCustomer,
			doc: doc{summary: "Update a customer", tag: "Customers", request: customerRequest{}, response: customerResponse{}}},
		{method: http.MethodDelete, path: "/v1/customers/:id", auth: authTenant, roles: customerRoles, handler: s.deleteCustomer,
			doc: doc{summary: "Delete a customer", tag: "Customers", status: http.StatusNoContent}},
		{method: http.MethodPost, path: "/v1/customers/:id/permanent-deletion", auth: authTenant, roles: []tenants.Role{tenants.RoleSupport}, handler: s.eraseCustomer,
			doc: doc{summary: "Erase a customer's personal data (GDPR)", tag: "Customers", response: deletionResponse{}}},
		{method: http.MethodPut, path: "/v1/customers/:id/consents", auth: authTenant, roles: customerRoles, handler: s.updateConsents,
			doc: doc{summary: "Grant or withdraw a customer's consents", tag: "Customers", request: consentsRequest{}, response: consentsResponse{}}},

		// Campaigns and vouchers (Voucherify v1 shapes).
		{method: http.MethodPost, path: "/v1/campaigns", auth: authTenant, roles: campaignWrite, handler: s.idempotentAfterCommit(s.createCampaign),
			doc: doc{summary: "Create a campaign and generate its vouchers; Idempotency-Key supported", tag: "Campaigns", request: campaigns.CampaignInput{}, response: campaignResponse{}}},
		{method: http.MethodGet, path: "/v1/campaigns", auth: authTenant, roles: campaignRead, handler: s.listCampaigns,
			doc: doc{summary: "List campaigns, newest first", tag: "Campaigns", response: campaignList{},
				query: append([]param{{"campaign_type", "string", "only campaigns of this type"}}, pageParams...)}},
		{method: http.MethodGet, path: "/v1/campaigns/:id", auth: authTenant, roles: campaignRead, handler: s.getCampaign,
			doc: doc{summary: "Get a campaign by id or name", tag: "Campaigns", response: campaignResponse{}}},
		{method: http.MethodPost, path: "/v1/campaigns/:id/enable", auth: authTenant, roles: campaignWrite, handler: s.setCampaignActive(true),
			doc: doc{summary: "Enable a campaign", tag: "Campaigns", response: struct{}{}}},
		{method: http.MethodPost, path: "/v1/campaigns/:id/disable", auth: authTenant, roles: campaignWrite, handler: s.setCampaignActive(false),
			doc: doc{summary: "Disable a campaign: the kill switch, effective on the next request on every node", tag: "Campaigns", response: struct{}{}}},
		{method: http.MethodPost, path: "/v1/campaigns/:id/vouchers", auth: authTenant, roles: campaignWrite, handler: s.idempotentAfterCommit(s.addVouchers),
			doc: doc{summary: "Add codes to a campaign: one at once, more as an asynchronous action (202); Idempotency-Key supported", tag: "Campaigns", request: addVouchersRequest{}, response: voucherResponse{},
				query: []param{{"vouchers_count", "integer", "how many codes to add (default 1)"}}}},
		{method: http.MethodGet, path: "/v1/async-actions/:id", auth: authTenant, roles: campaignRead, handler: s.getAsyncAction,
			doc: doc{summary: "Get an asynchronous action: status, progress and result", tag: "Campaigns", response: asyncActionBody{}}},
		{method: http.MethodGet, path: "/v1/promotions/:id/tiers", auth: authTenant, roles: campaignRead, handler: s.listTiers,
			doc: doc{summary: "List a promotion campaign's tiers in hierarchy order", tag: "Campaigns", response: tierList{}}},
		{method: http.MethodGet, path: "/v1/promotions/tiers/:id", auth: authTenant, roles: campaignRead, handler: s.getTier,
			doc: doc{summary: "Get a promotion tier", tag: "Campaigns", response: tierBody{}}},
		{method: http.MethodPost, path: "/v1/promotions/tiers/:id/enable", auth: authTenant, roles: campaignWrite, handler: s.setTierActive(true),
			doc: doc{summary: "Enable a promotion tier", tag: "Campaigns", response: tierBody{}}},
		{method: http.MethodPost, path: "/v1/promotions/tiers/:id/disable", auth: authTenant, roles: campaignWrite, handler: s.setTierActive(false),
			doc: doc{summary: "Disable a promotion tier", tag: "Campaigns", response: tierBody{}}},
		{method: http.MethodPost, path: "/v1/publications", auth: authTenant, roles: customerRoles, handler: s.publish,
			doc: doc{summary: "Assign a voucher (or the next free one of a campaign) to a customer, who alone may then redeem it", tag: "Vouchers", request: publicationRequest{}, response: publicationBody{}}},
		{method: http.MethodPost, path: "/v1/vouchers/import", auth: authTenant, roles: campaignWrite, handler: s.idempotentAfterCommit(s.importVouchers),
			doc: doc{summary: "Import standalone vouchers with their codes, as an asynchronous action (202); Idempotency-Key supported", tag: "Vouchers", request: []campaigns.VoucherInput{}, response: asyncActionRef{}, status: http.StatusAccepted}},
		{method: http.MethodPost, path: "/v1/vouchers", auth: authTenant, roles: campaignWrite, handler: s.idempotentAfterCommit(s.createVoucher),
			doc: doc{summary: "Create a standalone voucher; Idempotency-Key supported", tag: "Vouchers", request: campaigns.VoucherInput{}, response: voucherResponse{}}},
		{method: http.MethodPost, path: "/v1/vouchers/:code", auth: authTenant, roles: campaignWrite, handler: s.idempotentAfterCommit(s.createVoucher),
			doc: doc{summary: "Create a standalone voucher with the code in the path (as Voucherify's SDKs do); Idempotency-Key supported", tag: "Vouchers", request: campaigns.VoucherInput{}, response: voucherResponse{}}},
		{method: http.MethodGet, path: "/v1/vouchers", auth: authTenant, roles: campaignRead, handler: s.listVouchers,
			doc: doc{summary: "List vouchers, newest first", tag: "Vouchers", response: voucherList{},
				query: append([]param{{"campaign_id", "string", "only the vouchers of this campaign (id or name)"}, {"campaign", "string", "likewise"},
					{"customer", "string", "only the vouchers assigned to this customer (id or source_id)"}, {"category", "string", "only vouchers of this category"}}, pageParams...)}},
		{method: http.MethodGet, path: "/v1/vouchers/:code", auth: authTenant, roles: campaignRead, handler: s.getVoucher,
			doc: doc{summary: "Get a voucher by code", tag: "Vouchers", response: voucherResponse{}}},
		{method: http.MethodPost, path: "/v1/vouchers/:code/enable", auth: authTenant, roles: campaignWrite, handler: s.setVoucherActive(true),
			doc: doc{summary: "Enable a voucher", tag: "Vouchers", response: voucherResponse{}}},
		{method: http.MethodPost, path: "/v1/vouchers/:code/disable", auth: authTenant, roles: campaignWrite, handler: s.setVoucherActive(false),
			doc: doc{summary: "Disable a voucher", tag: "Vouchers", response: voucherResponse{}}},

		// Validation, redemption and rollback (Voucherify's stackable endpoints).
		{method: http.MethodPost, path: "/v1/validations", auth: authTenant, roles: redeemRoles, handler: s.validate,
			doc: doc{summary: "Validate redeemables against an order and customer: which apply, how they stack, the discounts", tag: "Redemptions", request: redemption.Request{}, response: validationBody{}}},
		{method: http.MethodPost, path: "/v1/redemptions", auth: authTenant, roles: redeemRoles, handler: s.idempotent(s.redeem),
			doc: doc{summary: "Redeem redeemables: all limits enforced atomically; Idempotency-Key supported", tag: "Redemptions", request: redemption.Request{}, response: redeemBody{}}},
		{method: http.MethodPost, path: "/v1/qualifications", auth: authTenant, roles: redeemRoles, handler: s.qualify,
			doc: doc{summary: "Find the vouchers and promotion tiers that would apply to an order and customer: newest first (options.sorting_rule DEFAULT; BEST_DEAL, LEAST_DEAL), paged by options.starting_after; a page holds more than options.limit when redeemables created together would otherwise be split", tag: "Redemptions", request: redemption.QualifyRequest{}, response: qualificationBody{}}},
		{method: http.MethodGet, path: "/v1/redemptions", auth: authTenant, roles: redeemReadRoles, handler: s.listRedemptions,
			doc: doc{summary: "List redemptions and rollbacks, newest first", tag: "Redemptions", response: redemptionList{}, query: redemptionListParams}},
		{method: http.MethodGet, path: "/v1/redemptions/:id", auth: authTenant, roles: redeemReadRoles, handler: s.getRedemption,
			doc: doc{summary: "Get a redemption or rollback", tag: "Redemptions", response: redemptionBody{}}},
		{method: http.MethodPost, path: "/v1/redemptions/:id/rollbacks", auth: authTenant, roles: redeemRoles, handler: s.idempotent(s.rollback),
			doc: doc{summary: "Roll back a redemption and every child: counters, uses and gift credits restored", tag: "Redemptions", request: rollbackRequest{}, response: rollbacksBody{}}},
		{method: http.MethodPost, path: "/v1/redemptions/:id/rollback", auth: authTenant, roles: redeemRoles, handler: s.idempotent(s.rollbackOne),
			doc: doc{summary: "Roll back a redemption, as /rollbacks does, answering with its rollback alone (Voucherify's single rollback; a child redemption is rolled back through its parent)", tag: "Redemptions", request: rollbackRequest{}, response: rollbackBody{}}},
		{method: http.MethodGet, path: "/v1/stacking-rules", auth: authTenant, roles: campaignRead, handler: s.getStackingRules,
			doc: doc{summary: "Get the stacking rules", tag: "Redemptions", response: redemption.StackingRules{}}},
		{method: http.MethodPut, path: "/v1/stacking-rules", auth: authTenant, roles: settingsRoles, handler: s.putStackingRules,
			doc: doc{summary: "Replace the stacking rules", tag: "Redemptions", request: redemption.StackingRules{}, response: redemption.StackingRules{}}},

		// Tenant policies (Punchcard-native).
		{method: http.MethodGet, path: "/v1/policies/:kind", auth: authTenant, roles: policyRead, handler: s.getPolicy,
			doc: doc{summary: "Get a policy kind's active version and every version", tag: "Policies", response: policyBody{}}},
		{method: http.MethodPut, path: "/v1/policies/:kind", auth: authTenant, roles: policyWrite, handler: s.putPolicy,
			doc: doc{summary: "Publish a new immutable version (compiled and checked; 422 with file, row and column otherwise) and activate it", tag: "Policies", request: policyRequest{}, response: policyVersionBody{}, status: http.StatusCreated}},
		{method: http.MethodGet, path: "/v1/policies/:kind/versions/:version", auth: authTenant, roles: policyRead, handler: s.getPolicyVersion,
			doc: doc{summary: "Get one version of a policy", tag: "Policies", response: policyVersionBody{}}},
		{method: http.MethodPost, path: "/v1/policies/:kind/versions/:version/activate", auth: authTenant, roles: policyWrite, handler: s.activatePolicy,
			doc: doc{summary: "Activate an earlier (or later) version: rollback without a deploy", tag: "Policies", response: policyVersionBody{}}},
		{method: http.MethodPost, path: "/v1/policies/:kind/evaluate", auth: authTenant, roles: policyWrite, handler: s.evaluatePolicy,
			doc: doc{summary: "Dry run: evaluate the active (or a given) version on an input document", tag: "Policies", request: evaluateRequest{}, response: evaluationBody{}}},

		// Audit log.
		{method: http.MethodGet, path: "/v1/audit-events", auth: authTenant, roles: auditRoles, handler: s.listAuditEvents,
			doc: doc{summary: "List audit events, newest first", tag: "Audit", response: auditList{}, query: auditParams(true)}},
		{method: http.MethodGet, path: "/v1/audit-events/export", auth: authTenant, roles: auditRoles, handler: s.exportAuditEvents,
			doc: doc{summary: "Export audit events as NDJSON, oldest first", tag: "Audit", response: auditEventBody{}, ndjson: true, query: auditParams(false)}},
		{method: http.MethodGet, path: "/v1/audit-events/verify", auth: authTenant, roles: auditRoles, handler: s.verifyAudit,
			doc: doc{summary: "Recompute the audit hash chain and name the first broken event", tag: "Audit", response: verificationBody{}}},

		// Operator API.
		{method: http.MethodPost, path: "/operator/v1/tenants", auth: authOperator, handler: s.createTenant,
			doc: doc{summary: "Create a tenant and its first admin key", tag: "Operator", request: tenantRequest{}, response: createdTenantBody{}, status: http.StatusCreated}},
		{method: http.MethodGet, path: "/operator/v1/tenants", auth: authOperator, handler: s.listTenants,
			doc: doc{summary: "List tenants", tag: "Operator", response: tenantList{}, query: []param{{"limit", "integer", "page size, at most 100"}, {"cursor", "string", "next_cursor of the previous page"}}}},
		{method: http.MethodGet, path: "/operator/v1/tenants/:slug", auth: authOperator, handler: s.getTenant,
			doc: doc{summary: "Get a tenant", tag: "Operator", response: tenantBody{}}},
		{method: http.MethodPost, path: "/operator/v1/tenants/:slug/suspend", auth: authOperator, handler: s.suspendTenant,
			doc: doc{summary: "Suspend a tenant: every call with its keys gets 403", tag: "Operator", response: tenantBody{}}},
		{method: http.MethodPost, path: "/operator/v1/tenants/:slug/activate", auth: authOperator, handler: s.activateTenant,
			doc: doc{summary: "Reactivate a suspended tenant", tag: "Operator", response: tenantBody{}}},
		{method: http.MethodPost, path: "/operator/v1/tenants/:slug/api-keys", auth: authOperator, handler: s.createKey,
			doc: doc{summary: "Create an API key for a tenant (secret shown once)", tag: "Operator", request: keyRequest{}, response: createdKeyBody{}, status: http.StatusCreated}},
		{method: http.MethodGet, path: "/operator/v1/tenants/:slug/api-keys", auth: authOperator, handler: s.listKeys,
			doc: doc{summary: "List a tenant's API keys (no secrets)", tag: "Operator", response: keyList{}}},
		{method: http.MethodDelete, path: "/operator/v1/api-keys/:id", auth: authOperator, handler: s.revokeKey,
			doc: doc{summary: "Revoke an API key", tag: "Operator", response: keyBody{}}},
	}
}

// RouteInfo describes one served route, for tests and tooling that must cover every
// route (the cross-tenant matrix among them).
type RouteInfo struct {
	Method string
	Path   string // gin syntax, e.g. /v1/customers/:id
	Auth   string // "none", "tenant" or "operator"
}

// Routes lists every route the server serves, in table order.
func (s *Server) Routes() []RouteInfo {
	out := make([]RouteInfo, 0, len(s.routes))
	for _, r := range s.routes {
		out = append(out, RouteInfo{Method: r.method, Path: r.path, Auth: [...]string{"none", "tenant", "operator"}[r.auth]})
	}
	return out
}
