package customers

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/punchcard-loyalty/punchcard/platform/metadata"
	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// FuzzInputNormalize decodes arbitrary request bodies the way the API does and
// checks that whatever normalize accepts stays within the documented limits and
// lands in a customer unchanged by a second application.
func FuzzInputNormalize(f *testing.F) {
	for _, seed := range []string{
		`{"source_id":"crm-1","name":"Ada","email":"ada@example.com","birthdate":"1990-12-10"}`,
		`{"name":null,"address":{"city":"Paris","country":"FR"},"metadata":{"n":12345678901234567}}`,
		`{"email":"Ada <ada@example.com>","birthday":"2023-02-30","metadata":{"":1}}`,
		`{"address":{},"metadata":{},"phone":""}`,
	} {
		f.Add(seed)
	}
	today := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body string) {
		var in struct {
			SourceID    Field[string]         `json:"source_id"`
			Name        Field[string]         `json:"name"`
			Email       Field[string]         `json:"email"`
			Birthdate   Field[string]         `json:"birthdate"`
			Birthday    Field[string]         `json:"birthday"`
			Address     Field[Address]        `json:"address"`
			Metadata    Field[map[string]any] `json:"metadata"`
			Description Field[string]         `json:"description"`
		}
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		norm, err := Input{
			SourceID: in.SourceID, Name: in.Name, Email: in.Email, Birthdate: in.Birthdate, Birthday: in.Birthday,
			Address: in.Address, Metadata: in.Metadata, Description: in.Description,
		}.normalize(today)
		if err != nil {
			return
		}
		var c Customer
		norm.ApplyTo(&c)
		if utf8.RuneCountInString(c.Name) > MaxName || utf8.RuneCountInString(c.Email) > MaxEmail ||
			utf8.RuneCountInString(c.SourceID) > MaxSourceID || len(c.Metadata) > metadata.MaxKeys {
			t.Fatalf("accepted out-of-limit customer %+v", c)
		}
		if c.Birthdate != "" {
			if d, err := time.Parse(time.DateOnly, c.Birthdate); err != nil || d.After(today.AddDate(0, 0, 1)) {
				t.Fatalf("accepted birthdate %q", c.Birthdate)
			}
		}
		if changed := norm.ApplyTo(&c); len(changed) != 0 {
			t.Fatalf("second application changed %v", changed)
		}
	})
}

// TestCheckProfile: a redemption's customer data is checked as POST /v1/customers
// checks it, its fields named under the prefix.
func TestCheckProfile(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tooMany := map[string]any{}
	for i := range metadata.MaxKeys + 1 {
		tooMany[string(rune('a'+i%26))+string(rune('a'+i/26))] = i
	}
	for name, c := range map[string]struct {
		in    Profile
		field string // "" for accepted
	}{
		"accepted":      {in: Profile{Name: Some("Ada"), Email: Some(" ada@example.com "), Metadata: Some(map[string]any{"tier": "gold"})}},
		"email":         {in: Profile{Email: Some("ada")}, field: "customer.email"},
		"future":        {in: Profile{Birthdate: Some("2030-01-01")}, field: "customer.birthdate"},
		"address part":  {in: Profile{Address: Some(Address{City: "a\x00b"})}, field: "customer.address.city"},
		"metadata keys": {in: Profile{Metadata: Some(tooMany)}, field: "customer.metadata"},
		"description":   {in: Profile{Description: Some(string(make([]byte, MaxDescription+1)))}, field: "customer.description"},
	} {
		t.Run(name, func(t *testing.T) {
			out, err := CheckProfile("customer.", c.in, now)
			if c.field == "" {
				if err != nil {
					t.Fatalf("CheckProfile = %v, want accepted", err)
				}
				if out.ID != "" || out.SourceID.Set {
					t.Errorf("CheckProfile named a customer: id %q / source_id %+v", out.ID, out.SourceID)
				}
				if *out.Email.Value != "ada@example.com" || *out.Name.Value != "Ada" {
					t.Errorf("normalized %q / %q, want the email trimmed and the name kept", *out.Email.Value, *out.Name.Value)
				}
				return
			}
			var p *problem.Error
			if !errors.As(err, &p) || p.Kind != problem.KindInvalid || !strings.HasPrefix(p.Field, c.field) || !strings.HasPrefix(p.Details, c.field) {
				t.Fatalf("CheckProfile = %#v, want invalid naming %s in field and details", err, c.field)
			}
		})
	}
	if !(Profile{}).Empty() || (Profile{Name: Null[string]()}).Empty() {
		t.Error("Empty: a profile is empty exactly when it sets no field (null sets one)")
	}
}

func TestMetadataEqualComparesNumbersByValue(t *testing.T) {
	n := func(s string) json.Number { return json.Number(s) }
	for _, c := range []struct {
		a, b map[string]any
		want bool
	}{
		{map[string]any{"n": n("1e2")}, map[string]any{"n": n("100")}, true},
		{map[string]any{"n": n("1.50")}, map[string]any{"n": n("1.5")}, true},
		{map[string]any{"n": n("12345678901234567")}, map[string]any{"n": n("12345678901234568")}, false},
		{map[string]any{"deep": []any{map[string]any{"n": n("2E0")}}}, map[string]any{"deep": []any{map[string]any{"n": n("2")}}}, true},
		{map[string]any{"n": n("1e999999999")}, map[string]any{"n": n("1e999999998")}, false},
		{map[string]any{"n": n("1")}, map[string]any{"n": "1"}, false},
		{map[string]any{"a": true}, map[string]any{"a": true, "b": nil}, false},
		{map[string]any{"s": "x"}, map[string]any{"s": "x"}, true},
	} {
		if got := metadataEqual(c.a, c.b); got != c.want {
			t.Errorf("metadataEqual(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
