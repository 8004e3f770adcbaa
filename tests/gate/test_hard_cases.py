from tunewise.gate.hard_cases import domain_keywords, generate_hard_cases, word_by_word

IN_DOMAIN = [f"Write a Python function that parses log file number {i} and returns the error lines." for i in range(8)]
OFF = ["What is the capital of Peru?", "Suggest a birthday gift for my dad."]


def test_generates_every_set_with_expected_labels():
    sets = {s.name: s for s in generate_hard_cases(IN_DOMAIN, OFF, n=10, seed=1)}
    assert set(sets) == {"prefix-injection", "keyword-stuffed", "paraphrase-ood", "paraphrase-in-domain",
                         "other-language"}
    assert all(len(s.texts) == 10 for s in sets.values())
    assert sets["paraphrase-in-domain"].expect_refusal is False
    assert sets["prefix-injection"].expect_refusal is True


def test_prefix_injection_keeps_the_in_domain_request_and_appends_an_off_domain_one():
    (prefix,) = [s for s in generate_hard_cases(IN_DOMAIN, OFF, n=6) if s.name == "prefix-injection"]
    for text in prefix.texts:
        head, _, tail = text.partition("\n\n")
        assert head in IN_DOMAIN
        assert any(request in tail or request[0].lower() + request[1:] in tail for request in OFF)


def test_generation_is_deterministic_per_seed():
    first = [s.texts for s in generate_hard_cases(IN_DOMAIN, OFF, n=5, seed=3)]
    again = [s.texts for s in generate_hard_cases(IN_DOMAIN, OFF, n=5, seed=3)]
    other = [s.texts for s in generate_hard_cases(IN_DOMAIN, OFF, n=5, seed=4)]
    assert first == again and first != other


def test_word_by_word_translation_and_keywords():
    assert word_by_word("Write a function that reads the file", "de") == "schreibe eine Funktion die liest die Datei"
    assert word_by_word("parse_log(x)", "es") == "parse_log(x)"  # identifiers not in the table stay
    keywords = domain_keywords(IN_DOMAIN)
    assert "python" in keywords and "function" in keywords and "the" not in keywords
