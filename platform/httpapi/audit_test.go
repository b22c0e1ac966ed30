package httpapi

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// A stream cut midway reaches the client as an error, never as a complete
// answer, through gin's writer and a middleware's wrapping of it.
func TestCutStreamEndsTheResponseIncomplete(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	cut := make(chan error, 1)
	r.GET("/export", func(c *gin.Context) {
		c.Writer = &wrapped{ResponseWriter: c.Writer} // as a middleware may wrap it
		c.Status(http.StatusOK)
		w := bufio.NewWriter(c.Writer)
		_, _ = w.WriteString(strings.Repeat("{\"event\":1}\n", 1000))
		_ = w.Flush()
		c.Writer.Flush()
		cut <- cutStream(c.Writer)
	})
	srv := httptest.NewServer(r)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/export")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err := <-cut; err != nil {
		t.Fatalf("cutStream: %v", err)
	}
	if err == nil {
		t.Fatalf("the cut stream read as complete (%d bytes, status %d)", len(body), resp.StatusCode)
	}
}

type wrapped struct{ gin.ResponseWriter }

func (w *wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }
