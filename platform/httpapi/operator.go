package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/punchcard-loyalty/punchcard/tenants"
)

type tenantRequest struct {
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	Currency string `json:"currency,omitempty" jsonschema:"description=ISO 4217 code; default EUR"`
	Timezone string `json:"timezone,omitempty" jsonschema:"description=IANA time zone; default UTC"`
}

type tenantBody struct {
	ID       string `json:"id"`
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	Timezone string `json:"timezone"`
	Status   string `json:"status"`
}

type createdTenantBody struct {
	Tenant tenantBody     `json:"tenant"`
	APIKey tenants.NewKey `json:"api_key"`
}

type tenantList struct {
	Object     string       `json:"object"`
	DataRef    string       `json:"data_ref"`
	Data       []tenantBody `json:"data"`
	HasMore    bool         `json:"has_more"`
	NextCursor *string      `json:"next_cursor"`
}

type keyRequest struct {
	Role string `json:"role" jsonschema:"enum=admin,enum=marketer,enum=support,enum=auditor,enum=developer,enum=pos"`
	Name string `json:"name,omitempty"`
}

type createdKeyBody struct {
	APIKey tenants.NewKey `json:"api_key"`
}

type keyBody = tenants.APIKey

type keyList struct {
	Object  string           `json:"object"`
	DataRef string           `json:"data_ref"`
	Data    []tenants.APIKey `json:"data"`
	HasMore bool             `json:"has_more"`
}

// ToTenantBody is the public shape of a tenant, shared with the command line.
func ToTenantBody(t tenants.Tenant) tenantBody {
	return tenantBody{ID: t.ID, Slug: t.Slug, Name: t.Name, Currency: t.Currency, Timezone: t.Timezone, Status: t.Status}
}

func (s *Server) createTenant(c *gin.Context) error {
	var req tenantRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	created, err := s.Tenants.CreateTenant(c.Request.Context(), tenants.NewTenant(req))
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, createdTenantBody{Tenant: ToTenantBody(created.Tenant), APIKey: created.APIKey})
	return nil
}

func (s *Server) listTenants(c *gin.Context) error {
	limit, err := queryLimit(c, 100)
	if err != nil {
		return err
	}
	ts, err := s.Tenants.ListTenants(c.Request.Context(), c.Query("cursor"), limit+1)
	if err != nil {
		return err
	}
	out := tenantList{Object: "list", DataRef: "data", Data: []tenantBody{}}
	if len(ts) > limit {
		ts = ts[:limit]
		out.HasMore = true
		next := ts[len(ts)-1].ID
		out.NextCursor = &next
	}
	for _, t := range ts {
		out.Data = append(out.Data, ToTenantBody(t))
	}
	c.JSON(http.StatusOK, out)
	return nil
}

func (s *Server) getTenant(c *gin.Context) error {
	t, err := s.Tenants.TenantBySlug(c.Request.Context(), c.Param("slug"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, ToTenantBody(t))
	return nil
}

func (s *Server) suspendTenant(c *gin.Context) error {
	return s.setTenantStatus(c, tenants.StatusSuspended)
}
func (s *Server) activateTenant(c *gin.Context) error {
	return s.setTenantStatus(c, tenants.StatusActive)
}

func (s *Server) setTenantStatus(c *gin.Context, status string) error {
	t, err := s.Tenants.SetStatus(c.Request.Context(), c.Param("slug"), status)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, ToTenantBody(t))
	return nil
}

func (s *Server) createKey(c *gin.Context) error {
	var req keyRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	role, err := tenants.ParseRole(req.Role)
	if err != nil {
		return err
	}
	k, err := s.Tenants.CreateKey(c.Request.Context(), c.Param("slug"), role, req.Name)
	if err != nil {
		return err
	}
	c.JSON(http.StatusCreated, createdKeyBody{APIKey: k})
	return nil
}

func (s *Server) listKeys(c *gin.Context) error {
	t, err := s.Tenants.TenantBySlug(c.Request.Context(), c.Param("slug"))
	if err != nil {
		return err
	}
	ks, err := s.Tenants.ListKeys(c.Request.Context(), t.ID)
	if err != nil {
		return err
	}
	if ks == nil {
		ks = []tenants.APIKey{}
	}
	c.JSON(http.StatusOK, keyList{Object: "list", DataRef: "data", Data: ks})
	return nil
}

func (s *Server) revokeKey(c *gin.Context) error {
	k, err := s.Tenants.RevokeKeyByID(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, k)
	return nil
}
