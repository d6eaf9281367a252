"""The official Meilisearch Python SDK against Miroir.

Usage: python3 python_sdk.py URL MASTER_KEY
Exits non-zero (with the failing step) when anything differs from what a
single Meilisearch would do.
"""
import sys

import meilisearch

url, key = sys.argv[1], sys.argv[2]
client = meilisearch.Client(url, key)

assert client.is_healthy(), "health"
version = client.get_version()
assert "pkgVersion" in version, version

task = client.create_index("sdk_movies", {"primaryKey": "id"})
done = client.wait_for_task(task.task_uid, timeout_in_ms=20000)
assert done.status == "succeeded", done

index = client.index("sdk_movies")
docs = [{"id": i, "title": f"Movie {i}", "year": 1990 + i % 30, "genre": "drama" if i % 2 else "comedy"} for i in range(200)]
task = index.add_documents(docs)
done = client.wait_for_task(task.task_uid, timeout_in_ms=20000)
assert done.status == "succeeded", done
assert done.details["receivedDocuments"] == 200, done.details
assert done.details["indexedDocuments"] == 200, done.details

doc = index.get_document(42)
assert dict(doc)["title"] == "Movie 42", doc
page = index.get_documents({"limit": 10, "offset": 5})
assert page.total == 200, page.total
assert [d.id for d in page.results] == list(range(5, 15)), [d.id for d in page.results]
assert all("_miroir_shard" not in dict(d) for d in page.results)

task = index.update_settings({"filterableAttributes": ["genre", "year"], "sortableAttributes": ["year"]})
done = client.wait_for_task(task.task_uid, timeout_in_ms=20000)
assert done.status == "succeeded", done
settings = index.get_settings()
assert sorted(settings["filterableAttributes"]) == ["genre", "year"], settings["filterableAttributes"]
assert index.get_filterable_attributes() is not None

stats = index.get_stats()
assert stats.number_of_documents == 200, stats
assert "_miroir_shard" not in stats.field_distribution, stats.field_distribution
all_stats = client.get_all_stats()
assert all_stats["indexes"]["sdk_movies"]["numberOfDocuments"] == 200, all_stats

task_list = client.get_tasks({"indexUids": ["sdk_movies"]})
assert task_list.total >= 3, task_list.total

task = index.delete_documents([1, 2, 3])
done = client.wait_for_task(task.task_uid, timeout_in_ms=20000)
assert done.status == "succeeded", done
assert index.get_stats().number_of_documents == 197

task = client.delete_index("sdk_movies")
done = client.wait_for_task(task.task_uid, timeout_in_ms=20000)
assert done.status == "succeeded", done
try:
    client.get_index("sdk_movies")
    raise AssertionError("index still there after deletion")
except meilisearch.errors.MeilisearchApiError as e:
    assert e.code == "index_not_found", e.code

print("python sdk: all steps passed")
