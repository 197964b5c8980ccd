"""Access control: identities from tokens, passwords and share links; browser sessions."""
