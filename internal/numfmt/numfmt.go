// Package numfmt formats numbers for people: the command line, the sync
// summaries and the admin page count users in the hundreds of thousands.
package numfmt

import (
	"strconv"
	"strings"
)

// Thousands formats n with commas between groups of three digits
// (1234567 is "1,234,567").
func Thousands[T ~int | ~int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	digits := strings.TrimPrefix(s, "-")
	var b strings.Builder
	if len(digits) < len(s) {
		b.WriteByte('-')
	}
	for i, r := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
