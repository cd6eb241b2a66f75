"""03 silver: validate, deduplicate, quarantine and flag bronze readings (``transforms``), measure and gate data quality (``quality``), write silver (``stage``)."""
