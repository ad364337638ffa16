// The box tool: being built.
