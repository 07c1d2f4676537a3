package cloudwatch

import (
	"context"
	"slices"
	"strings"
)

// Alarm tags (TagResource, UntagResource, ListTagsForResource). Only alarms can be
// tagged here; an alarm is named by its ARN (arn:aws:cloudwatch:region:account:alarm:name).
// As on AWS, PutMetricAlarm sets the tags of a new alarm only: the Tags of an update are
// ignored, and the alarm keeps the tags it has.

const maxTags = 50 // per alarm

// checkTags validates tags as AWS does (key 1-128, value 0-256 characters).
func checkTags(tags []Tag) error {
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 {
			return invalid("The parameter Tags.member.N.Key must be 1 to 128 characters.")
		}
		if len(t.Value) > 256 {
			return invalid("The parameter Tags.member.N.Value must be at most 256 characters.")
		}
	}
	if len(tags) > maxTags {
		return invalid("The collection Tags must not have a size greater than %d.", maxTags)
	}
	return nil
}

// alarmNameOf returns the alarm name of an alarm ARN of region and this account. The
// ARN of an alarm of another region is not found (as that of an alarm that does not
// exist; AWS's answer there is not documented).
func (s *Service) alarmNameOf(region, arn string) (string, error) {
	if arn == "" {
		return "", missing("ResourceARN")
	}
	if len(arn) > 1024 {
		return "", invalid("The parameter ResourceARN must be at most 1024 characters.")
	}
	p := strings.SplitN(arn, ":", 7)
	if len(p) != 7 || p[0] != "arn" || p[1] == "" || p[2] == "" || p[5] == "" {
		return "", invalid("Invalid ARN: %s", arn)
	}
	if p[2] != "cloudwatch" || p[3] != region || p[4] != s.cfg.AccountID || p[5] != "alarm" || p[6] == "" {
		return "", notFoundARN(arn)
	}
	return p[6], nil
}

func notFoundARN(arn string) error {
	return cwErr("ResourceNotFoundException", "%s not found", arn)
}

// ListTagsForResource returns the tags of an alarm of the node's region.
func (s *Service) ListTagsForResource(ctx context.Context, arn string) ([]Tag, error) {
	return s.ListTagsForResourceIn(ctx, "", arn)
}

// ListTagsForResourceIn is ListTagsForResource for a request of region ("" = the node's
// region): arn must be an alarm of that region.
func (s *Service) ListTagsForResourceIn(ctx context.Context, region, arn string) ([]Tag, error) {
	region = s.region(region)
	name, err := s.alarmNameOf(region, arn)
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.alarms[akey(region, name)]
	if a == nil {
		return nil, notFoundARN(arn)
	}
	return clone(a.Tags), nil
}

// TagResource adds tags to an alarm of the node's region, or replaces the values of its
// tags of the same keys.
func (s *Service) TagResource(ctx context.Context, arn string, tags []Tag) error {
	return s.TagResourceIn(ctx, "", arn, tags)
}

// TagResourceIn is TagResource for a request of region ("" = the node's region).
func (s *Service) TagResourceIn(ctx context.Context, region, arn string, tags []Tag) error {
	region = s.region(region)
	name, err := s.alarmNameOf(region, arn)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return missing("Tags")
	}
	if err := checkTags(tags); err != nil {
		return err
	}
	_, err = s.propose(ctx, cmdSetTags, setTagsCmd{Region: region, Name: name, ARN: arn, Add: tags})
	return err
}

// UntagResource removes tags (by key) from an alarm of the node's region; keys it does
// not have are ignored.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	return s.UntagResourceIn(ctx, "", arn, keys)
}

// UntagResourceIn is UntagResource for a request of region ("" = the node's region).
func (s *Service) UntagResourceIn(ctx context.Context, region, arn string, keys []string) error {
	region = s.region(region)
	name, err := s.alarmNameOf(region, arn)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return missing("TagKeys")
	}
	for _, k := range keys {
		if k == "" || len(k) > 128 {
			return invalid("The parameter TagKeys.member.N must be 1 to 128 characters.")
		}
	}
	_, err = s.propose(ctx, cmdSetTags, setTagsCmd{Region: region, Name: name, ARN: arn, Remove: keys})
	return err
}

// applyTags returns the alarm's tags with c applied, in the order they were first set,
// or an error when the result would have more than maxTags tags.
func applyTags(have []Tag, c setTagsCmd) ([]Tag, error) {
	out := slices.DeleteFunc(clone(have), func(t Tag) bool { return slices.Contains(c.Remove, t.Key) })
	for _, t := range c.Add {
		if i := slices.IndexFunc(out, func(x Tag) bool { return x.Key == t.Key }); i >= 0 {
			out[i].Value = t.Value
		} else {
			out = append(out, t)
		}
	}
	if len(out) > maxTags {
		return nil, invalid("An alarm can have at most %d tags.", maxTags)
	}
	return out, nil
}
