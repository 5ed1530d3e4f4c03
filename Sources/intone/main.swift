import IntoneCore
print("x")
