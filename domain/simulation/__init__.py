"""The simulator: a whole portfolio stepped through the cases' own rules, without a server.

Every simulated case is a `CaseState` driven the way `CollectionCase` drives it (decide, carry
the decision out, sleep until the decided moment or a message, decide again), through the same
domain functions; simulated borrowers answer its contacts as a behaviour file says
(`behaviours`), through the contract's updates as the workflow's handlers take them
(`domain.case_updates`). Time jumps from one event to the next (a case's decided moment, a
borrower's answer): no daily ticks.

- `behaviours`: the behaviour file, validated;
- `answers`: what a borrower (and the agent or field staff) sends after a contact;
- `simulated_case`: one case, as the workflow runs it;
- `portfolio`: the event loop over all cases, with caps counted per borrower across loans;
- `results`: what each policy did, as figures and a recovery curve.
"""
