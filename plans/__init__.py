"""What to do: contingency plans (应急预案) as versioned data, matching and activation."""
