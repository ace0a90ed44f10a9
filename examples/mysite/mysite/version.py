# The text that /version/ returns. frontdoor's deploy tests rewrite this line
# and check that the new generation serves the new text with no failed request.
MESSAGE = "version 1"
