package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

type healthBody struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func (s *Server) healthz(c *gin.Context) error {
	c.JSON(http.StatusOK, healthBody{Status: "ok"})
	return nil
}

func (s *Server) readyz(c *gin.Context) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.DB.Ping(ctx); err != nil {
		c.JSON(http.StatusServiceUnavailable, healthBody{Status: "not_ready", Reason: "database unreachable"})
		return nil
	}
	pending, err := s.DB.Pending(ctx)
	if err != nil {
		c.JSON(http.StatusServiceUnavailable, healthBody{Status: "not_ready", Reason: "cannot read migration status"})
		return nil
	}
	if len(pending) > 0 {
		c.JSON(http.StatusServiceUnavailable, healthBody{Status: "not_ready", Reason: "pending migrations: " + strings.Join(pending, ", ")})
		return nil
	}
	c.JSON(http.StatusOK, healthBody{Status: "ready"})
	return nil
}

func (s *Server) metrics(c *gin.Context) error {
	if s.Metrics == nil {
		return problem.NotFound("route", c.Request.URL.Path)
	}
	s.Metrics.ServeHTTP(c.Writer, c.Request)
	return nil
}

func notFoundRoute(c *gin.Context) error {
	return &problem.Error{Kind: problem.KindNotFound, Key: "not_found", Message: "Resource not found",
		Details: "No route " + c.Request.Method + " " + c.Request.URL.Path}
}

func methodNotAllowed(c *gin.Context) error {
	// gin has set the Allow header.
	return &problem.Error{Kind: problem.KindMethodNotAllowed, Key: "method_not_allowed", Message: "Method not allowed",
		Details: "Method " + c.Request.Method + " is not allowed on " + c.Request.URL.Path}
}
