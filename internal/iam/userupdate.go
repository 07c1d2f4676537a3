package iam

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/coffer-hsm/coffer/internal/state"
)

// UpdateUser renames a user and/or changes its path. Its UserId stays; its ARN changes.
// Everything that refers to the user by name follows it in one replicated command: its
// access keys (so that they keep signing, as the new ARN), the MFA devices enabled for it,
// its group memberships and the temporary credentials it got from GetSessionToken. Its
// inline and attached policies and tags are on the user itself and stay with it.

const cmdUserUpdate = "iam.user.update"

// userUpdateCmd renames user Name to NewName (when set) and/or moves it to NewPath (when
// set).
type userUpdateCmd struct {
	Account string `json:"account"`
	Name    string `json:"name"`
	NewName string `json:"new_name,omitempty"`
	NewPath string `json:"new_path,omitempty"`
}

func applyUserUpdate(s *Service, t time.Time, body json.RawMessage) (any, error) {
	c, err := state.DecodeBody[userUpdateCmd](body)
	if err != nil {
		return nil, err
	}
	u, err := s.entityLocked(kindUser, c.Account, c.Name)
	if err != nil {
		return nil, err
	}
	oldName, oldKey := u.Name, entKey(kindUser, c.Account, u.Name)
	newName, newPath := u.Name, u.Path
	if c.NewName != "" {
		newName = c.NewName
	}
	if c.NewPath != "" {
		newPath = c.NewPath
	}
	newKey := entKey(kindUser, c.Account, newName)
	if newKey != oldKey && s.ents[newKey] != nil {
		return nil, iamErr("EntityAlreadyExists", "User with name %s already exists.", newName)
	}
	is := func(name string) bool { return strings.EqualFold(name, oldName) }
	for _, k := range s.keys {
		if k.Account == c.Account && is(k.UserName) {
			k.UserName = newName
		}
	}
	for _, d := range s.mfas {
		if d.Account == c.Account && d.UserName != "" && is(d.UserName) {
			d.UserName = newName
		}
	}
	for _, g := range s.ents {
		if g.Kind == kindGroup && g.Account == c.Account {
			for i, m := range g.Members {
				if is(m) {
					g.Members[i] = newName
				}
			}
		}
	}
	for _, x := range s.sessions {
		if x.Account == c.Account && x.RoleName == "" && x.UserName != "" && is(x.UserName) {
			x.UserName = newName
			x.ARN = userARN(c.Account, newPath, newName)
		}
		// A federated user's session is the renamed user's: its policies stay those of
		// this user, not of a user later given the old name.
		if o, ok := parseARN(x.Owner); ok && x.Type == federatedType && o.Kind == kindUser && o.Account == c.Account && is(o.Name) {
			x.Owner = userARN(c.Account, newPath, newName)
		}
	}
	delete(s.ents, oldKey)
	u.Name, u.Path = newName, newPath
	s.ents[newKey] = u
	return nil, nil
}

type UpdateUserInput struct{ UserName, NewUserName, NewPath string }

// UpdateUser changes a user's name (NewUserName) and/or path (NewPath); with neither it
// only checks that the user exists. Names are unique case-insensitively:
// EntityAlreadyExists when another user has the new name.
func (s *Service) UpdateUser(ctx context.Context, c Caller, in UpdateUserInput) error {
	if err := checkName("UserName", in.UserName, 128); err != nil {
		return err
	}
	if in.NewUserName != "" {
		if err := checkName("NewUserName", in.NewUserName, 64); err != nil {
			return err
		}
	}
	if in.NewPath != "" {
		if _, err := checkPath(in.NewPath); err != nil {
			return err
		}
	}
	return s.propose(ctx, cmdUserUpdate, userUpdateCmd{Account: c.Account, Name: in.UserName, NewName: in.NewUserName, NewPath: in.NewPath})
}
