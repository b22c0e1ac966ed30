package campaigns

import (
	crand "crypto/rand"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/punchcard-loyalty/punchcard/platform/problem"
)

// Code limits.
const (
	// DefaultCharset is the charset of generated codes when the campaign names none.
	DefaultCharset = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	// DefaultCodeLength is the number of random characters when neither length nor
	// pattern is given.
	DefaultCodeLength = 8
	// MaxCodeLength bounds a code, prefix and postfix included.
	MaxCodeLength = 100
	// codeSpaceFactor is how many times larger than the codes requested the code
	// space must be, so that random codes rarely collide and stay hard to guess.
	codeSpaceFactor = 100
)

// CodeConfig is Voucherify's code_config: how a campaign's codes look. A pattern's
// '#' characters are replaced by random characters of the charset; without a
// pattern, length random characters are used. Prefix and postfix are literal.
type CodeConfig struct {
	Length  int    `json:"length,omitempty"`
	Charset string `json:"charset,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	Postfix string `json:"postfix,omitempty"`
	Pattern string `json:"pattern,omitempty"`
}

// normalize validates the configuration and fills its defaults.
func (c *CodeConfig) normalize(field string) error {
	if c.Charset == "" {
		c.Charset = DefaultCharset
	}
	seen := map[rune]bool{}
	for _, r := range c.Charset {
		if r == '#' || badCodeRune(r) || seen[r] {
			return problem.Invalidf(field+".charset", "%s.charset must list distinct printable characters other than '#', spaces and '/'", field)
		}
		seen[r] = true
	}
	if len(seen) < 2 {
		return problem.Invalidf(field+".charset", "%s.charset needs at least two characters", field)
	}
	// A generated code obeys the rules of an imported one (checkCode).
	for _, f := range [...]struct{ name, value string }{{"prefix", c.Prefix}, {"postfix", c.Postfix}, {"pattern", c.Pattern}} {
		if strings.ContainsFunc(f.value, badCodeRune) {
			return problem.Invalidf(field+"."+f.name, "%s.%s must not contain spaces, control characters or '/'", field, f.name)
		}
	}
	switch {
	case c.Pattern != "":
		if c.Length != 0 && c.Length != strings.Count(c.Pattern, "#") {
			return problem.Invalidf(field+".length", "%s.length must be left out when a pattern is given", field)
		}
		c.Length = strings.Count(c.Pattern, "#")
		if c.Length == 0 {
			return problem.Invalidf(field+".pattern", "%s.pattern needs at least one '#' for a random character", field)
		}
	case c.Length == 0:
		c.Length = DefaultCodeLength
	case c.Length < 0:
		return problem.Invalidf(field+".length", "%s.length must be positive", field)
	}
	if utf8.RuneCountInString(c.Pattern) > MaxCodeLength {
		return problem.Invalidf(field+".pattern", "%s.pattern must be at most %d characters", field, MaxCodeLength)
	}
	if c.Length > MaxCodeLength {
		return problem.Invalidf(field+".length", "%s.length must be at most %d", field, MaxCodeLength)
	}
	// Like Voucherify, a configuration always reports its pattern.
	c.Pattern = c.pattern()
	if utf8.RuneCountInString(c.Prefix+c.pattern()+c.Postfix) > MaxCodeLength {
		return problem.Invalidf(field, "%s makes codes longer than %d characters", field, MaxCodeLength)
	}
	return nil
}

func (c *CodeConfig) pattern() string {
	if c.Pattern != "" {
		return c.Pattern
	}
	return strings.Repeat("#", c.Length)
}

// space is the number of distinct codes the configuration can make, capped at
// MaxInt64.
func (c *CodeConfig) space() int64 {
	n := float64(utf8.RuneCountInString(c.Charset))
	s := math.Pow(n, float64(c.Length))
	if s >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(s)
}

// checkCapacity refuses to make count more codes when the code space is too small
// for them to stay unique and hard to guess.
func (c *CodeConfig) checkCapacity(field string, count int64) error {
	if count > 0 && c.space()/codeSpaceFactor < count {
		return problem.Invalidf(field, "%s allows %d distinct codes, too few for %d random codes; lengthen the pattern or widen the charset", field, c.space(), count)
	}
	return nil
}

// generate returns one random code.
func (c *CodeConfig) generate() string {
	chars := []rune(c.Charset)
	r := codeRands.Get().(*rand.Rand)
	defer codeRands.Put(r)
	var b strings.Builder
	b.WriteString(c.Prefix)
	for _, p := range c.pattern() {
		if p != '#' {
			b.WriteRune(p)
			continue
		}
		b.WriteRune(chars[r.IntN(len(chars))])
	}
	b.WriteString(c.Postfix)
	return b.String()
}

// codeRands draw the characters of generated codes, uniformly: ChaCha8 is a
// cryptographically strong generator, and each is seeded from crypto/rand, so
// codes stay unguessable. A 100,000-code campaign draws a million characters;
// reading each from crypto/rand would cost a system call apiece.
var codeRands = sync.Pool{New: func() any {
	var seed [32]byte
	crand.Read(seed[:]) // crypto/rand does not fail on supported platforms
	return rand.New(rand.NewChaCha8(seed))
}}

// checkCode validates a code chosen by the caller (standalone vouchers, imports).
func checkCode(field, code string) error {
	switch {
	case strings.TrimSpace(code) == "":
		return problem.Invalidf(field, "%s must not be empty", field)
	case utf8.RuneCountInString(code) > MaxCodeLength:
		return problem.Invalidf(field, "%s must be at most %d characters", field, MaxCodeLength)
	case strings.ContainsFunc(code, badCodeRune):
		return problem.Invalidf(field, "%s must not contain spaces, control characters or '/'", field)
	}
	return nil
}

// badCodeRune reports whether r may not appear in a code: a space or control
// character, or '/', which no path could carry (GET /v1/vouchers/{code}).
func badCodeRune(r rune) bool { return r <= ' ' || r == utf8.RuneError || r == '/' }
