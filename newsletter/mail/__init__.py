"""Email: render an issue (render), build MIME (message), sign unsubscribe links (tokens), keep the
subscriber list (subscribers), deliver to files or SMTP (deliver) through a send ledger (ledger);
`campaign.run` ties them together for `newsletter email N`."""
