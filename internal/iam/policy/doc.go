// Package policy implements the AWS IAM policy language: parsing policy
// documents, compiling them into a form that is cheap to evaluate, and
// deciding requests with AWS's documented evaluation logic for a single
// account.
//
// # Documents
//
// [Parse] accepts the JSON grammar of the IAM User Guide ("IAM JSON policy
// element reference"): Version, Id, Statement (an object or an array), and in
// each statement Sid, Effect, Action/NotAction, Resource/NotResource,
// Principal/NotPrincipal and Condition. Errors are [*ParseError] values whose
// Reason is worded like IAM's MalformedPolicyDocument messages.
//
// # Evaluation
//
// [Decide] applies the rules of "Policy evaluation logic": an explicit Deny in
// any applicable statement wins; otherwise an Allow in an identity policy or
// in a resource policy whose Principal matches the caller allows; otherwise
// the request is implicitly denied. [KMSDecide] adds KMS's rule that a key
// policy must allow the caller directly, or allow the account root and so
// delegate to identity policies.
//
// The identity argument of both may also hold a permissions boundary and
// session policies ([Policy.As] with [BoundaryLayer], [SessionLayer]): they
// grant nothing, deny what they do not allow, and win with an explicit Deny;
// an Allow of a resource policy that names the caller's own ARN is not
// limited by them ("Policy evaluation logic", "Session policies").
//
// Policy variables (${aws:username}, ${aws:PrincipalTag/team}, any key of
// the request context, with an optional default: ${key, 'value'}) are
// substituted in Resource and NotResource and in the values of String and
// Arn condition operators when the Version is 2012-10-17.
//
// # Known differences from AWS
//
//   - A value substituted for a policy variable that contains '*' or '?'
//     makes the pattern fail to match, rather than being matched literally.
//   - ${*}, ${?} and ${$} substitute their character; '*' and '?' then act
//     as wildcards.
//   - An account principal ("123456789012" or its root ARN) in an Allow
//     statement matches only the root principal; in a Deny statement it
//     matches every principal of that account.
package policy
