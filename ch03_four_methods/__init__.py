"""Chapter 3: the four ways to build a reasoning model, on one task, scored the same way.

- step_verifier.py: a rule-based process checker (is every written step right?), no answer key
- voting.py: majority vote (self-consistency), best-of-N against a score, unbiased pass@k
- scaling.py: a pool of sampled completions per problem, and accuracy as a function of N
- compute.py: training and inference FLOPs (6N and 2N per token), what they leave out
- budget_forcing.py: s1-style budget forcing: cut thinking at a budget, force " wait " below a floor
- beam_search.py: beam search over steps, ranked by the step verifier after every step
- harness.py, where_they_differ.py: every method on the same problems (the test set, and
  chapter 2's harder split where the methods come apart), each with its FLOPs
- effects.py: the notebook's asserted effects, as benchmarks/seeds.py measures them over seeds
"""
