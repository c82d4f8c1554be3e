
Bx1JO½E¯ê½d8