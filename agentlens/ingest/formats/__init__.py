"""One module per wire format: request body -> normalised events. No SQL here."""
