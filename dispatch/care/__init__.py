"""Care plans, staff rotas and the visits generated from them: the pure core, no store or web."""
