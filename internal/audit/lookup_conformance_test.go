package audit

import (
	"errors"
	"strings"
	"testing"
)

// CloudTrail counts '_', ' ', ',' and a newline as two characters towards the 2000 of a
// LookupAttribute's value (LookupAttribute.AttributeValue in the model).
func TestLookupAttributeValueWeightedLength(t *testing.T) {
	j, _ := lookupFixture(t)
	for _, tc := range []struct {
		value string
		ok    bool
	}{
		{strings.Repeat("a", 2000), true},
		{strings.Repeat("_", 1000), true},
		{strings.Repeat("_", 1000) + "a", false},
		{strings.Repeat(" ", 999) + "ab", true},
		{strings.Repeat(",", 1001), false},
		{strings.Repeat("\n", 1000) + "é", false},
		{strings.Repeat("a_", 667), false}, // 1334 characters counting as 2001
		{strings.Repeat("a_", 666) + "aa", true},
	} {
		_, _, err := j.Lookup(LookupInput{Attributes: []LookupAttribute{{AttrResourceName, tc.value}}})
		var ae *Error
		switch {
		case tc.ok && err != nil:
			t.Errorf("value of %d characters (%d weighted): %v", len([]rune(tc.value)), attributeValueLength(tc.value), err)
		case !tc.ok && (!errors.As(err, &ae) || ae.Code != CodeInvalidLookupAttributes):
			t.Errorf("value of %d characters (%d weighted): %v, want %s", len([]rune(tc.value)), attributeValueLength(tc.value), err, CodeInvalidLookupAttributes)
		}
	}
}
