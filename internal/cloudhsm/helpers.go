package cloudhsm

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// checkTags validates tags to be added to a resource that keeps existing other tags (tags
// whose keys are not in tags): keys of 1 to 128 characters and values of 0 to 256, both of
// the model's tag alphabet, no key starting with the reserved "aws:", no key twice, and at
// most MaxTags in all. A request of more than MaxTags tags, and every other refusal, is a
// CloudHsmTagException; tags that would take a resource's existing ones past MaxTags are
// a CloudHsmResourceLimitExceededException, the error the model gives TagResource for
// exceeding a CloudHSM limit.
func checkTags(tags []Tag, existing int) error {
	if len(tags) > MaxTags {
		return tagErr("a resource carries at most %d tags: %d were given", MaxTags, len(tags))
	}
	if len(tags)+existing > MaxTags {
		return limit("a resource carries at most %d tags: %d more would make %d", MaxTags, len(tags), len(tags)+existing)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if t.incomplete {
			return invalid("each tag of TagList needs a Key and a Value (the Value may be empty)")
		}
		if n := utf8.RuneCountInString(t.Key); n < 1 || n > 128 || !utf8.ValidString(t.Key) {
			return tagErr("tag key %q must be 1 to 128 characters", clip(t.Key))
		}
		if n := utf8.RuneCountInString(t.Value); n > 256 || !utf8.ValidString(t.Value) {
			return tagErr("the value of tag %q must be at most 256 characters", clip(t.Key))
		}
		if !tagRE.MatchString(t.Key) {
			return tagErr("tag key %q has characters outside letters, digits, spaces and _.:/=+-@", clip(t.Key))
		}
		if !tagRE.MatchString(t.Value) {
			return tagErr("the value of tag %q has characters outside letters, digits, spaces and _.:/=+-@", clip(t.Key))
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return tagErr("tag key %q: the aws: prefix is reserved for AWS", clip(t.Key))
		}
		if seen[t.Key] {
			return tagErr("tag key %q is given twice", clip(t.Key))
		}
		seen[t.Key] = true
	}
	return nil
}

// checkTagListGiven refuses a TagList given as an empty list: the model's TagList has 1 to
// 50 members, so [] is not "no tags" (absent is), and for CopyBackupToRegion it is not
// "none of the source's tags" either.
func checkTagListGiven(tags []Tag) error {
	if tags != nil && len(tags) == 0 {
		return invalid("TagList must list 1 to %d tags when given; leave it out for none", MaxTags)
	}
	return nil
}

// pageSize validates a MaxResults parameter: absent means dflt, which is also the model's
// maximum for the operation (25 clusters, 50 backups, 100 tags).
func pageSize(max *int, dflt int, field string) (int, error) {
	if max == nil {
		return dflt, nil
	}
	if *max < 1 || *max > dflt {
		return 0, invalid("%s %d is out of range: it must be 1 to %d", field, *max, dflt)
	}
	return *max, nil
}

// Page tokens are opaque to clients: base64url of the offset of the next item (8 bytes,
// big endian) followed by a 4-byte check, so that a mangled or made-up token is refused
// rather than silently read as another position.
const pageTokenTag = "coffer cloudhsm page v1"

func pageToken(offset int) string {
	b := binary.BigEndian.AppendUint64(nil, uint64(offset))
	sum := sha256.Sum256(append([]byte(pageTokenTag), b...))
	return base64.RawURLEncoding.EncodeToString(append(b, sum[:4]...))
}

func parsePageToken(token string) (int, error) {
	bad := invalid("NextToken is not valid: pass the NextToken of the previous response unchanged")
	if len(token) > 256 {
		return 0, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != 12 {
		return 0, bad
	}
	sum := sha256.Sum256(append([]byte(pageTokenTag), b[:8]...))
	if [4]byte(b[8:]) != [4]byte(sum[:4]) {
		return 0, bad
	}
	off := binary.BigEndian.Uint64(b[:8])
	if off == 0 || off > 1<<31 {
		return 0, bad
	}
	return int(off), nil
}

// paginate returns the page of all that starts at token ("" is the start) with at most
// max items, and the token of the next page ("" after the last). A token past the end
// (the list shrank meanwhile) gives an empty last page.
func paginate[T any](all []T, token string, max int) ([]T, string, error) {
	start := 0
	if token != "" {
		off, err := parsePageToken(token)
		if err != nil {
			return nil, "", err
		}
		start = off
	}
	if start >= len(all) {
		return nil, "", nil
	}
	end := min(start+max, len(all))
	next := ""
	if end < len(all) {
		next = pageToken(end)
	}
	return all[start:end:end], next, nil
}
