"""The bureau's services beyond questions and answers (issue 14): legal-aid screening first."""
